// Values: reading a values file, merging files as Helm does (maps merge recursively,
// anything else replaces, an explicit null deletes the key) and validating the result
// against the chart's values.schema.json with gojsonschema, Helm's validator.
package main

import (
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/xeipuuv/gojsonschema"
)

// readValues parses a YAML values file into JSON-shaped values: numbers become float64, as
// Helm's loader (YAML through JSON) makes them, so templates behave the same here and there.
func readValues(path string) (map[string]interface{}, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	parsed, err := parseYAML(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	switch values := parsed.(type) {
	case map[string]interface{}:
		return values, nil
	case nil:
		return map[string]interface{}{}, nil
	default:
		return nil, fmt.Errorf("%s: the top level must be a map of values", path)
	}
}

// mergedValues is the chart's values with each file merged over them in order.
func mergedValues(c *chart, files []string) (map[string]interface{}, error) {
	values := deepCopy(c.values).(map[string]interface{})
	for _, f := range files {
		override, err := readValues(f)
		if err != nil {
			return nil, err
		}
		mergeInto(values, override)
	}
	return values, nil
}

// mergeInto merges src into dst as Helm does: maps recursively, anything else replaces, and
// a null deletes the key.
func mergeInto(dst, src map[string]interface{}) {
	for k, v := range src {
		if v == nil {
			delete(dst, k)
			continue
		}
		if sub, ok := v.(map[string]interface{}); ok {
			if existing, ok := dst[k].(map[string]interface{}); ok {
				mergeInto(existing, sub)
				continue
			}
		}
		dst[k] = deepCopy(v)
	}
}

func deepCopy(v interface{}) interface{} {
	switch t := v.(type) {
	case map[string]interface{}:
		out := make(map[string]interface{}, len(t))
		for k, x := range t {
			out[k] = deepCopy(x)
		}
		return out
	case []interface{}:
		out := make([]interface{}, len(t))
		for i, x := range t {
			out[i] = deepCopy(x)
		}
		return out
	default:
		return v
	}
}

// validateValues reports every violation of the schema, one line each, as Helm does.
func validateValues(c *chart, values map[string]interface{}) error {
	if c.schema == nil {
		return nil
	}
	result, err := gojsonschema.Validate(gojsonschema.NewBytesLoader(c.schema), gojsonschema.NewGoLoader(values))
	if err != nil {
		return fmt.Errorf("values.schema.json: %v", err)
	}
	if result.Valid() {
		return nil
	}
	var lines []string
	for _, e := range result.Errors() {
		lines = append(lines, fmt.Sprintf("- %s: %s", e.Field(), e.Description()))
	}
	sort.Strings(lines)
	return fmt.Errorf("values don't meet the specifications of the schema(s) in the following chart(s):\n%s:\n%s",
		c.name, strings.Join(lines, "\n"))
}
