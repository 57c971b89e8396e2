package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"

	"gopkg.in/yaml.v3"
)

// Load reads the YAML file at path over the defaults. The result is not yet
// resolved or validated.
func Load(path string) (*Config, error) {
	c := Default()
	if err := c.LoadFile(path); err != nil {
		return nil, err
	}
	return c, nil
}

// LoadFile merges the YAML file at path into c: keys present in the file
// replace c's values, absent keys keep them. Unknown keys are an error, so a
// misspelt setting cannot be silently ignored.
func (c *Config) LoadFile(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if err := c.merge(b); err != nil {
		return fmt.Errorf("config: %s: %w", path, err)
	}
	c.ConfigFile = path
	return nil
}

func (c *Config) merge(b []byte) error {
	var top map[string]yaml.Node
	if err := yaml.Unmarshal(b, &top); err == nil {
		if err := checkEtcdKeys(slices.Sorted(maps.Keys(top))); err != nil {
			return err
		}
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}
