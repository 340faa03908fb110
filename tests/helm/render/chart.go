// Loading a chart directory: Chart.yaml (as .Chart, Helm's capitalised field names), the
// default values, the templates, and the other files (.Files), following symlinks as Helm's
// loader does.
package main

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

type chart struct {
	name      string
	metadata  map[string]interface{} // .Chart
	values    map[string]interface{} // values.yaml
	schema    []byte                 // values.schema.json, nil when absent
	templates map[string]string      // path under templates/ -> text
	files     files                  // everything else, by path relative to the chart
}

func loadChart(dir string) (*chart, error) {
	c := &chart{templates: map[string]string{}, files: files{}}
	raw, err := os.ReadFile(filepath.Join(dir, "Chart.yaml"))
	if err != nil {
		return nil, fmt.Errorf("not a chart: %v", err)
	}
	var meta map[string]interface{}
	if err := yaml.Unmarshal(raw, &meta); err != nil {
		return nil, fmt.Errorf("Chart.yaml: %v", err)
	}
	c.metadata = map[string]interface{}{}
	for k, v := range meta {
		c.metadata[metadataField(k)] = v
	}
	name, _ := meta["name"].(string)
	if name == "" {
		return nil, fmt.Errorf("Chart.yaml: no name")
	}
	c.name = name
	c.values = map[string]interface{}{}
	if _, err := os.Stat(filepath.Join(dir, "values.yaml")); err == nil {
		if c.values, err = readValues(filepath.Join(dir, "values.yaml")); err != nil {
			return nil, err
		}
	}
	if c.schema, err = os.ReadFile(filepath.Join(dir, "values.schema.json")); err != nil && !os.IsNotExist(err) {
		return nil, err
	}
	err = walkFollowingLinks(dir, "", func(rel string, data []byte) {
		switch {
		case strings.HasPrefix(rel, "templates/"):
			c.templates[strings.TrimPrefix(rel, "templates/")] = string(data)
		case rel == "Chart.yaml" || rel == "values.yaml" || rel == "values.schema.json":
		default:
			c.files[rel] = data
		}
	})
	if err != nil {
		return nil, err
	}
	if len(c.templates) == 0 {
		return nil, fmt.Errorf("%s has no templates/", dir)
	}
	return c, nil
}

// metadataField is the name Helm's chart metadata gives a top-level Chart.yaml key:
// capitalised, and apiVersion as APIVersion.
func metadataField(key string) string {
	switch key {
	case "":
		return key
	case "apiVersion":
		return "APIVersion"
	}
	return strings.ToUpper(key[:1]) + key[1:]
}

// walkFollowingLinks calls visit with every regular file under dir (path relative to the
// chart, slash-separated), descending into symlinked directories.
func walkFollowingLinks(dir, rel string, visit func(string, []byte)) error {
	entries, err := os.ReadDir(filepath.Join(dir, rel))
	if err != nil {
		return err
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
	for _, e := range entries {
		path := filepath.ToSlash(filepath.Join(rel, e.Name()))
		info, err := os.Stat(filepath.Join(dir, path)) // follows links
		if err != nil {
			return fmt.Errorf("%s: %v", path, err)
		}
		if info.IsDir() {
			if err := walkFollowingLinks(dir, path, visit); err != nil {
				return err
			}
		} else if info.Mode()&fs.ModeType == 0 {
			data, err := os.ReadFile(filepath.Join(dir, path))
			if err != nil {
				return err
			}
			visit(path, data)
		}
	}
	return nil
}
