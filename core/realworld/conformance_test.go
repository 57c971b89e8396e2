package realworld_test

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"

	"metastore/core/disk"
	"metastore/core/realworld"
)

// script is run line by line against Mem and OSDisk; both must print the
// same result for every line. Commands: op args... where names are relative
// to the FS's root and h<N> are open files.
const script = `
mkdir d
create h1 d/a
write h1 hello
readat h1 0 1
size h1
sync h1
close h1
close h1
write h1 late
open h9 d/missing
openappend h9 d/missing
openappend h2 d/a
readat h2 0 3
readat h2 3 10
readat h2 10 1
readat h2 5 0
write h2 _world
truncate h2 8
write h2 !
size h2
readat h2 0 20
truncate h2 12
readat h2 0 20
writeat h2 xy 3
writeat h2 end 14
writeat h2 0123 15
write h2 +
readat h2 0 30
size h2
open h3 d/a
write h3 x
writeat h3 x 0
truncate h3 1
readat h3 0 4
sync h3
create h4 d/missing/x
create h4 d/b
write h4 bbb
close h4
list d
rename d/b d/c
list d
rename d/missing d/x
rename d/c d/nodir/x
rename d/c d/a
list d
readall d/a
remove d/a
remove d/a
list d
list nodir
syncdir d
syncdir nodir
mkdir d/sub/deep
mkdir d/sub
list d
list d/sub
create h5 d
create h6 d/t
write h6 abc
sync h6
close h6
create h6 d/t
size h6
close h6
readall d/t
remove d/sub/deep
list d/sub
`

// runScript returns one result line per script line.
func runScript(t *testing.T, fs disk.FS, root string) []string {
	t.Helper()
	files := map[string]disk.File{}
	var out []string
	for _, line := range strings.Split(strings.TrimSpace(script), "\n") {
		f := strings.Fields(line)
		p := func(i int) string { return root + "/" + f[i] }
		num := func(i int) int64 {
			n, err := strconv.ParseInt(f[i], 10, 64)
			if err != nil {
				t.Fatalf("bad number in %q", line)
			}
			return n
		}
		var res string
		var err error
		switch f[0] {
		case "mkdir":
			err = fs.MkdirAll(p(1))
		case "create", "open", "openappend":
			open := map[string]func(string) (disk.File, error){"create": fs.Create, "open": fs.Open, "openappend": fs.OpenAppend}[f[0]]
			var file disk.File
			if file, err = open(p(2)); err == nil {
				files[f[1]] = file
			}
		case "write":
			var n int
			n, err = files[f[1]].Write([]byte(f[2]))
			res = strconv.Itoa(n)
		case "writeat":
			var n int
			n, err = files[f[1]].WriteAt([]byte(f[2]), num(3))
			res = strconv.Itoa(n)
		case "readat":
			buf := make([]byte, num(3))
			var n int
			n, err = files[f[1]].ReadAt(buf, num(2))
			res = fmt.Sprintf("%q", buf[:n])
		case "size":
			var n int64
			n, err = files[f[1]].Size()
			res = strconv.FormatInt(n, 10)
		case "truncate":
			err = files[f[1]].Truncate(num(2))
		case "sync":
			err = files[f[1]].Sync()
		case "close":
			err = files[f[1]].Close()
		case "rename":
			err = fs.Rename(p(1), p(2))
		case "remove":
			err = fs.Remove(p(1))
		case "list":
			var names []string
			names, err = fs.List(p(1))
			res = strings.Join(names, ",")
		case "syncdir":
			err = fs.SyncDir(p(1))
		case "readall":
			var file disk.File
			if file, err = fs.Open(p(1)); err == nil {
				size, _ := file.Size()
				buf := make([]byte, size)
				var n int
				n, err = file.ReadAt(buf, 0)
				res = fmt.Sprintf("%q", buf[:n])
				file.Close()
			}
		default:
			t.Fatalf("unknown command %q", line)
		}
		out = append(out, fmt.Sprintf("%-28s -> %s %s", line, errClass(err), res))
	}
	return out
}

// errClass keeps what the contract promises about an error: nil, EOF,
// ErrNotExist, or some other failure. Messages differ between twins.
func errClass(err error) string {
	switch {
	case err == nil:
		return "ok"
	case err == io.EOF:
		return "EOF"
	case errors.Is(err, disk.ErrNotExist):
		return "ErrNotExist"
	}
	return "error"
}

// TestTwinConformance runs one script against Mem and the real disk.
func TestTwinConformance(t *testing.T) {
	mem := runScript(t, disk.NewMem(), "/mem")
	osd := runScript(t, realworld.OSDisk{}, t.TempDir())
	for i := range mem {
		if mem[i] != osd[i] {
			t.Errorf("line %d:\n mem: %s\n  os: %s", i+1, mem[i], osd[i])
		}
	}
	if t.Failed() || testing.Verbose() {
		t.Log("\n" + strings.Join(osd, "\n"))
	}
}

func TestClockMonotonic(t *testing.T) {
	c := realworld.NewClock()
	a := c.Now()
	b := c.Now()
	if a < 0 || b < a {
		t.Fatalf("Now went from %v to %v", a, b)
	}
}
