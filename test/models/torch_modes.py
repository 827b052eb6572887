"""What the parity scripts compute on a torchvision model loaded with ablate's weights, in one place."""
import torch


def outputs_in_both_modes(model, x):
    """Logits in eval mode, then in train mode (BatchNorm on the batch's statistics), and the running statistics
    that train-mode forward left behind ("after.<key>"), so ablate's own update of them can be compared."""
    out = {}
    model.eval()
    with torch.no_grad():
        out["eval"] = model(x)
    model.train()
    with torch.no_grad():
        out["train"] = model(x)
    for key, v in model.state_dict().items():
        if "running" in key or "num_batches" in key:
            out["after." + key] = v
    return out
