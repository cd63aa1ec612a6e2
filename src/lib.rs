//! Root package of the claude-bottle workspace. It holds no code of its own: it exists so that the
//! workspace-level integration tests in `tests/` (the libtest-mimic `escape` target among them)
//! have a package to belong to. The real work lives in `harness/`, `backends/`, `probes/` and
//! `fixtures/`.
