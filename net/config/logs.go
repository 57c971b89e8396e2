package config

import (
	"errors"
	"fmt"
	"io"
	"os"
)

// OpenLogOutputs opens --log-outputs: "stderr" (or etcd's "default"),
// "stdout", or a file path, appended to. The returned closer closes the
// files; the writer writes every log line to each output.
func (c *Config) OpenLogOutputs() (io.Writer, io.Closer, error) {
	var ws []io.Writer
	var files closers
	for _, o := range c.LogOutputs {
		switch o {
		case "default", "stderr":
			ws = append(ws, os.Stderr)
		case "stdout":
			ws = append(ws, os.Stdout)
		default:
			f, err := os.OpenFile(o, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
			if err != nil {
				files.Close()
				return nil, nil, fmt.Errorf("--log-outputs: %w", err)
			}
			files = append(files, f)
			ws = append(ws, f)
		}
	}
	if len(ws) == 1 {
		return ws[0], files, nil
	}
	return io.MultiWriter(ws...), files, nil
}

type closers []*os.File

func (cs closers) Close() error {
	var errs []error
	for _, c := range cs {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}
