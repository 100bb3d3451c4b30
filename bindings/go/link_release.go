//go:build !lookupd_pkgconfig

package lookupd

// By default the package links the optimised static library of the
// repository it sits in: target/release/liblookupd.a, which
// `make -C bindings/c lib PROFILE=release` at the repository root writes
// (the repository's one way to build the C library; with CARGO_TARGET_DIR
// set elsewhere, set it to <repository>/target for that command). The Go
// program then carries lookupd inside it and needs no liblookupd.so at
// run time. The header comes from the repository's include/ directory.
// The -l flags are the system libraries the Rust standard library needs
// in a static link (rustc's native-static-libs on Linux with glibc, as
// bindings/c/Makefile's NATIVE_STATIC_LIBS lists them; gcc adds -lgcc_s
// and -lc itself).
//
// Build with -tags lookupd_pkgconfig to link an installed library instead
// (link_pkgconfig.go).

/*
#cgo CFLAGS: -I${SRCDIR}/../../include
#cgo LDFLAGS: ${SRCDIR}/../../target/release/liblookupd.a -lutil -lrt -lpthread -lm -ldl
*/
import "C"
