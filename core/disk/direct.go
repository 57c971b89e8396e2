package disk

import (
	"errors"
	"unsafe"
)

// DirectAlign is the alignment of a direct file's writes: the start of
// each buffer written, its length and the offset it lands at are
// multiples of it. 4 KiB covers the logical block size of the disks the
// server runs on (512 or 4096 bytes).
const DirectAlign = 4096

// ErrUnaligned is returned (wrapped) by a direct file's Write or WriteAt
// that breaks DirectAlign, as Linux's EINVAL for O_DIRECT.
var ErrUnaligned = errors.New("disk: unaligned write to a direct file")

// DirectFS is an FS that can create direct files: files whose writes go to
// the device without passing through the operating system's cache (Linux's
// O_DIRECT). A large file written once and read back rarely (a snapshot)
// costs the system far less that way: no copy into the page cache, no
// dirty pages to reclaim and write back, and no pile of dirty data for a
// sync of the same disk (the WAL's) to wait behind.
//
// A direct file keeps File's contract, durability included (data is not
// durable before Sync: the device may cache it, and the file's size is
// metadata), except that each Write and WriteAt must follow DirectAlign
// (an AlignedBuffer and lengths in multiples of DirectAlign); Truncate
// then sets the exact size of a file whose last write was padded.
//
// NB: a wrapper that embeds a DirectFS and overrides Create (to time,
// fail or gate files) must override CreateDirect too, or the files made
// direct bypass it.
type DirectFS interface {
	FS
	// CreateDirect creates (or truncates) name and opens it write-only
	// as a direct file. Where the file system cannot bypass its cache the
	// file may be an ordinary one; it must still be written as direct.
	CreateDirect(name string) (File, error)
}

// CreateDirect creates name as a direct file when fsys is a DirectFS, else
// as an ordinary one (Create); the caller writes it as a direct file
// either way.
func CreateDirect(fsys FS, name string) (File, error) {
	if d, ok := fsys.(DirectFS); ok {
		return d.CreateDirect(name)
	}
	return fsys.Create(name)
}

// AlignedBuffer returns an empty buffer of capacity n (a multiple of
// DirectAlign) whose first byte is aligned to DirectAlign, to write direct
// files from. Go's collector does not move heap objects, so it stays so.
func AlignedBuffer(n int) []byte {
	b := make([]byte, n+DirectAlign)
	skip := int(-uintptr(unsafe.Pointer(unsafe.SliceData(b))) & (DirectAlign - 1))
	return b[skip : skip : skip+n]
}

// CheckDirect returns ErrUnaligned unless p may be written at off to a
// direct file.
func CheckDirect(p []byte, off int64) error {
	if len(p)%DirectAlign != 0 || off%DirectAlign != 0 {
		return ErrUnaligned
	}
	if len(p) > 0 && uintptr(unsafe.Pointer(unsafe.SliceData(p)))%DirectAlign != 0 {
		return ErrUnaligned
	}
	return nil
}
