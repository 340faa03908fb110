// Rendering: every template parsed into one set (partials included, so `define`s are shared),
// executed with the chart's functions, and written as `helm template` writes it: one
// "# Source:" header per YAML document.
package main

import (
	"bytes"
	"errors"
	"fmt"
	"path"
	"regexp"
	"sort"
	"strings"
	"text/template"
)

func render(c *chart, top map[string]interface{}, notes bool) (string, error) {
	root := template.New("root").Option("missingkey=zero")
	root.Funcs(funcMap(root))
	names := make([]string, 0, len(c.templates))
	for rel := range c.templates {
		names = append(names, rel)
	}
	sort.Strings(names)
	for _, rel := range names {
		if _, err := root.New(templateName(c, rel)).Parse(c.templates[rel]); err != nil {
			return "", cleanError(err)
		}
	}
	var out strings.Builder
	for _, rel := range names {
		base := path.Base(rel)
		if strings.HasPrefix(base, "_") || (base == "NOTES.txt") != notes {
			continue
		}
		name := templateName(c, rel)
		scope := make(map[string]interface{}, len(top)+1)
		for k, v := range top {
			scope[k] = v
		}
		scope["Template"] = map[string]interface{}{"Name": name, "BasePath": c.name + "/templates"}
		var buf bytes.Buffer
		if err := root.ExecuteTemplate(&buf, name, scope); err != nil {
			return "", cleanError(err)
		}
		// missingkey=zero prints a missing value of an interface map as "<no value>"; Helm drops it.
		text := strings.ReplaceAll(buf.String(), "<no value>", "")
		if notes {
			out.WriteString(text)
			continue
		}
		for _, doc := range documentSeparator.Split(text, -1) {
			if doc = strings.TrimSpace(doc); doc != "" {
				fmt.Fprintf(&out, "---\n# Source: %s\n%s\n", name, doc)
			}
		}
	}
	return out.String(), nil
}

func templateName(c *chart, rel string) string { return c.name + "/templates/" + rel }

// documentSeparator is a "---" line between YAML documents.
var documentSeparator = regexp.MustCompile(`(?m)^---[ \t]*$`)

var execPrefix = regexp.MustCompile(`^template: ([^:]+:\d+:\d+): executing "[^"]*" at <[^>]*>: error calling \w+: `)

// cleanError turns text/template's "template: NAME:L:C: executing ... error calling required: MSG"
// into Helm's "execution error at (NAME:L:C): MSG"; other errors pass as they are.
func cleanError(err error) error {
	var f failure
	if !errors.As(err, &f) {
		return err
	}
	if m := execPrefix.FindStringSubmatch(err.Error()); m != nil {
		return fmt.Errorf("execution error at (%s): %s", m[1], f.message)
	}
	return f
}
