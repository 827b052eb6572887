/**
 * The interpreter whose PyTorch the comparison tests run: Debian's python3-torch by default; ABLATE_TEST_PYTHON
 * names another (scripts/gpu-check.sh checks parity against the PyTorch ablate was built against on a GPU box).
 */
export const PYTHON = process.env.ABLATE_TEST_PYTHON ?? '/usr/bin/python3';
