// strata-helm-render: renders a Helm chart offline as `helm template` would, for the chart
// checks in tests/helm (Helm itself cannot be installed where the tests run). Built from the
// libraries Helm is built on, from Debian packages: Go's text/template, sprig (functions),
// gopkg.in/yaml.v3 and gojsonschema (values.schema.json).
//
//	strata-helm-render --chart DIR [-f VALUES.yaml]... [--release-name NAME] [--namespace NS] [--notes]
//
// What is implemented (templates must keep to it):
//   - values: values.yaml merged with each -f file in order (maps merge, anything else
//     replaces, null deletes; numbers are float64, as Helm loads them), validated against
//     values.schema.json when the chart has one;
//   - objects: .Values; .Release (Name, Namespace, Service, IsInstall, IsUpgrade, Revision);
//     .Chart (Chart.yaml with Helm's field names: Name, Version, AppVersion, APIVersion, ...);
//     .Template (Name, BasePath); .Capabilities (KubeVersion Version/Major/Minor = v1.30.0,
//     APIVersions.Has always false); .Files (Get, GetBytes, Glob with path.Match patterns,
//     over every file outside templates/ but Chart.yaml, values.yaml and values.schema.json,
//     symlinked directories followed; .helmignore is not read);
//   - functions: sprig's without env and expandenv, and Helm's include, tpl, required, fail,
//     toYaml, fromYaml, toJson, fromJson, lookup (always empty, as in `helm template`).
//
// Output: every template but _* partials and NOTES.txt, in path order, split into its YAML
// documents; each non-blank one as "---\n# Source: CHART/templates/PATH\n" and its text.
// --notes prints the rendered NOTES.txt instead. Unlike Helm, objects are not re-ordered by
// kind. Exit 1 with "Error: ..." on a chart, values or template error; 2 on a usage error.
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
	return render(c, topObjects(c, values, release, namespace), notes)
}
