{
  "targets": [
    {
      "target_name": "hyvisor_kvm",
      "sources": ["native/kvm.c"],
      "cflags": ["-std=gnu11", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "libraries": ["-lrt", "-lpthread"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
