{
  "targets": [
    {
      "target_name": "azmi",
      "sources": [
        "native/addon.cc",
        "native/workers.cc",
        "native/loop_driver.cc",
        "native/js_facts.cc",
        "native/exchange.cc",
        "native/probe.cc",
        "native/listener.cc",
        "native/http1.cc",
        "native/errors.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": [
        "NAPI_DISABLE_CPP_EXCEPTIONS",
        "NAPI_VERSION=8",
        "NODE_ADDON_API_DISABLE_DEPRECATED",
        "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS"
      ],
      "cflags": ["-fvisibility=hidden", "-ffunction-sections", "-fdata-sections"],
      # -Os last, over node-gyp's -O3: the addon is socket glue, and a fresh
      # process faults in every 64 KiB of its code that a first token runs
      # (~20 us each where page faults are slow). -O3 made .text 158 KiB,
      # -Os makes it 32 KiB (README, session 17).
      "cflags_cc": ["-std=c++17", "-fno-exceptions", "-fvisibility=hidden", "-fvisibility-inlines-hidden", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Os"],
      "ldflags": ["-Wl,--gc-sections", "-Wl,-O1"],
      "conditions": [
        # Every function the addon imports is bound on its first call by a
        # lookup through the process's symbol tables: a few us each for the
        # C++ runtime's, ~15 us for Node's, of a fresh process's first token
        # where page faults are slow (README, session 18). libstdc++ declares
        # its std::string code "extern template" (so every append or compare
        # was an import of libstdc++.so) except under _GLIBCXX_ASSERTIONS,
        # which also turns its bounds checks on; -Bsymbolic-functions then
        # binds the copies made here, and our own template instances (one was
        # bound to Node's copy), inside the addon at link time.
        ["OS not in ('mac', 'win')", {
          "defines": ["_GLIBCXX_ASSERTIONS"],
          "ldflags": ["-Wl,-Bsymbolic-functions"]
        }]
      ],
      "xcode_settings": {
        "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
        "GCC_ENABLE_CPP_EXCEPTIONS": "NO",
        "GCC_OPTIMIZATION_LEVEL": "s",
        "GCC_SYMBOLS_PRIVATE_EXTERN": "YES"
      }
    }
  ]
}
