{
  "targets": [
    {
      "target_name": "ablate_native",
      "sources": [
        "src/addon.cc",
        "src/tensor_ops.cc",
        "src/nn_ops.cc",
        "src/transformer_ops.cc",
        "src/conv_ops.cc",
        "src/optim_ops.cc",
        "src/runtime_ops.cc",
        "src/device_ops.cc",
        "src/dist_ops.cc",
        "src/profile_ops.cc",
        "src/jit_ops.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "<!@(node find-libtorch.cjs includes)",
        "<!@(node find-gloo.cjs includes)",
        "<!@(node find-nccl.cjs includes)"
      ],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "<!@(node find-gloo.cjs defines)", "<!@(node find-nccl.cjs defines)"],
      "cflags!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17", "-std=gnu++20"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-frtti", "-O2", "-Wno-unused-parameter", "-Wno-deprecated-declarations", "<!@(node find-libtorch.cjs cflags)"],
      "ldflags": ["<!@(node find-libtorch.cjs ldflags)"]
    },
    {
      "target_name": "ablate_image",
      "sources": ["src/image_ops.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "<!@(node find-jpeg.cjs defines)"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17", "-std=gnu++20"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-O3", "-Wno-unused-parameter"],
      "libraries": ["<!@(node find-jpeg.cjs libraries)"]
    }
  ]
}
