{
  "targets": [
    {
      "target_name": "bpfmap",
      "sources": ["native/bpfmap.c"],
      "cflags": ["-Wall", "-Wextra", "-Werror", "-O2", "-std=gnu11"],
      "defines": ["NAPI_DISABLE_CPP_EXCEPTIONS"]
    }
  ]
}
