//go:build lookupd_pkgconfig

package lookupd

// With -tags lookupd_pkgconfig the package links an installed lookupd,
// found through pkg-config's lookupd.pc (`make -C bindings/c install
// PREFIX=...` installs it, with the header and the libraries): set
// PKG_CONFIG_PATH to <prefix>/lib/pkgconfig when the prefix is not one
// pkg-config searches already.
//
// The linker then prefers the shared library, so the program needs
// liblookupd.so at run time: run it with LD_LIBRARY_PATH=<prefix>/lib, or
// build it with CGO_LDFLAGS="-Wl,-rpath,<prefix>/lib" so that it finds the
// library by itself. The go command's build cache does not notice a
// change in pkg-config's output (golang/go#24544): after installing to
// another prefix, build once with -a. See README.md.

/*
#cgo pkg-config: lookupd
*/
import "C"
