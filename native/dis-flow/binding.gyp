{
  # Built by scripts/build-native.sh (no package.json here, so npm never builds it implicitly).
  # OpenCV comes from Debian's libopencv-dev via pkg-config; only the three libraries DIS needs
  # are linked, so loading the addon does not pull in the whole contrib set.
  "targets": [
    {
      "target_name": "dis_flow",
      "sources": ["src/dis_flow.cc"],
      "cflags_cc": ["<!@(pkg-config --cflags opencv4)", "-O2", "-fexceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "libraries": [
        "-L<!(pkg-config --variable=libdir opencv4)",
        "-lopencv_video",
        "-lopencv_imgproc",
        "-lopencv_core"
      ],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
