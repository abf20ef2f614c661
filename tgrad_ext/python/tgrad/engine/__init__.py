"""tinygrad's `tinygrad.engine` package path, for code that imports TinyJit or JitError from it."""
