// Package realworld is the production world's clock and disk: OSDisk, a
// disk.FS on the os package, and Clock, a core.Clock on the monotonic clock.
//
// It is the one package under core/ allowed to import os and call time.Now.
// Everything else in core is stepped by its driver and reads the outside
// world only through core.Clock and disk.FS, so the simulator can replace
// both; the real implementations of those seams have to live somewhere, and
// keeping them in one small package makes the exception easy to audit
// (`go list -f '{{.Imports}}' ./core/...` should show os only here). Nothing
// in core imports this package: production wiring (net/, cmd/) passes it in.
package realworld
