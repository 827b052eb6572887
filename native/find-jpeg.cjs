#!/usr/bin/env node
// Gyp fragments for ablate_image: libjpeg(-turbo)'s headers and library when present (Debian:
// libjpeg62-turbo-dev), else a define that builds the addon without them (every file then goes to sharp).
// Usage: node find-jpeg.cjs defines|libraries
'use strict';
const fs = require('fs');
const path = require('path');

const dirs = ['/usr/include', '/usr/local/include', ...(process.env.JPEG_INCLUDE ? [process.env.JPEG_INCLUDE] : [])];
const found = dirs.some((d) => fs.existsSync(path.join(d, 'jpeglib.h')));
const what = process.argv[2] || 'defines';
if (what === 'defines') console.log(found ? 'ABLATE_WITH_JPEG' : 'ABLATE_WITHOUT_JPEG');
else if (what === 'libraries') console.log(found ? '-ljpeg' : '');
else if (what === 'check') process.exit(found ? 0 : 1);
else { process.stderr.write(`unknown query ${what}\n`); process.exit(2); }
