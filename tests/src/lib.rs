//! Tessera's black-box tests live in `api/` as one test binary; this library is empty.
