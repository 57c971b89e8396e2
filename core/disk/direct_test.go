package disk_test

import (
	"errors"
	"testing"

	"metastore/core/disk"
)

// Mem's direct files refuse what Linux refuses under O_DIRECT (a length,
// offset or buffer off the alignment) and take the rest, a Truncate to an
// unaligned size included; AlignedBuffer's buffers are aligned.
func TestMemDirectFileAlignment(t *testing.T) {
	m := disk.NewMem()
	f, err := m.CreateDirect("d")
	if err != nil {
		t.Fatal(err)
	}
	buf := disk.AlignedBuffer(2 * disk.DirectAlign)
	if cap(buf) != 2*disk.DirectAlign || len(buf) != 0 {
		t.Fatalf("AlignedBuffer: len %d cap %d", len(buf), cap(buf))
	}
	buf = buf[:cap(buf)]
	refused := map[string]func() (int, error){
		"short length":     func() (int, error) { return f.Write(buf[:disk.DirectAlign-1]) },
		"unaligned buffer": func() (int, error) { return f.Write(buf[1 : disk.DirectAlign+1]) },
		"unaligned offset": func() (int, error) { return f.WriteAt(buf[:disk.DirectAlign], 100) },
	}
	for what, write := range refused {
		if _, err := write(); !errors.Is(err, disk.ErrUnaligned) {
			t.Fatalf("%s: %v, want ErrUnaligned", what, err)
		}
	}
	if _, err := f.Write(buf); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(buf[:disk.DirectAlign], disk.DirectAlign); err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(disk.DirectAlign + 5); err != nil {
		t.Fatal(err)
	}
	if size, err := f.Size(); err != nil || size != disk.DirectAlign+5 {
		t.Fatalf("size %d, %v", size, err)
	}
	// An ordinary file takes any write.
	g, err := disk.CreateDirect(plainFS{m}, "plain")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.Write(buf[1:8]); err != nil {
		t.Fatalf("CreateDirect on an FS without direct files: %v", err)
	}
}

// plainFS hides Mem's CreateDirect.
type plainFS struct{ disk.FS }
