// strata-helm-render: renders a Helm chart offline as `helm template` would, for the chart
// checks in tests/helm (Helm itself cannot be installed where the tests run). Built from the
// libraries Helm is built on, from Debian packages: Go's text/template, sprig (functions),
// gopkg.in/yaml.v3 and gojsonschema (values.schema.json).
//
//	strata-helm-render --chart DIR [-f VALUES.yaml]... [--release-name NAME] [--namespace NS] [--notes]
//
// Implemented (templates must keep to it): values from values.yaml merged with each -f file
// in order (maps merge, anything else replaces, null deletes), validated against
// values.schema.json; .Values, .Release, .Chart, .Template, .Capabilities (KubeVersion only),
// .Files (Get, GetBytes, Glob; symlinks followed); sprig's functions without env/expandenv;
// include, tpl, required, fail, toYaml, fromYaml, toJson, fromJson, lookup (always empty,
// as in `helm template`). Output: "---\n# Source: CHART/templates/PATH\n" and the text of
// each template that renders non-blank, in path order; --notes prints NOTES.txt instead.
// Exit 1 with "Error: ..." on a chart, values or template error; 2 on a usage error.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
)

type valueFiles []string

func (v *valueFiles) String() string     { return strings.Join(*v, ",") }
func (v *valueFiles) Set(s string) error { *v = append(*v, s); return nil }

func main() {
	var files valueFiles
	chartDir := flag.String("chart", "", "chart directory (Chart.yaml, values.yaml, templates/)")
	release := flag.String("release-name", "strata", "release name (.Release.Name)")
	namespace := flag.String("namespace", "default", "release namespace (.Release.Namespace)")
	notes := flag.Bool("notes", false, "print the rendered NOTES.txt instead of the objects")
	flag.Var(&files, "f", "values file merged over values.yaml (repeatable, in order)")
	flag.Parse()
	if *chartDir == "" || flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: strata-helm-render --chart DIR [-f VALUES.yaml]... [--release-name NAME] [--namespace NS] [--notes]")
		os.Exit(2)
	}
	out, err := run(*chartDir, files, *release, *namespace, *notes)
	if err != nil {
		fmt.Fprintln(os.Stderr, "Error: "+err.Error())
		os.Exit(1)
	}
	fmt.Print(out)
}

// run loads the chart and its values and renders the manifests (or the notes).
func run(chartDir string, files []string, release, namespace string, notes bool) (string, error) {
	c, err := loadChart(chartDir)
	if err != nil {
		return "", err
	}
	values, err := mergedValues(c, files)
	if err != nil {
		return "", err
	}
	if err := validateValues(c, values); err != nil {
		return "", err
	}
	top := map[string]interface{}{
		"Values":  values,
		"Chart":   c.metadata,
		"Files":   c.files,
		"Release": map[string]interface{}{"Name": release, "Namespace": namespace, "Service": "Helm", "IsInstall": true, "IsUpgrade": false, "Revision": 1},
		"Capabilities": map[string]interface{}{
			"KubeVersion": map[string]interface{}{"Version": "v1.30.0", "Major": "1", "Minor": "30"},
		},
	}
	return render(c, top, notes)
}
