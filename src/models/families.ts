/**
 * The bundled model families. Each folder registers itself when imported; a new family is a new folder
 * plus one line here (and nothing else: presets, specs and run configs find it through the registry).
 */
import './resnet/index.js';
import './vgg/index.js';
import './mobilenet/index.js';
import './densenet/index.js';
import './convnext/index.js';
import './vit/index.js';
import './torchscript/index.js';
