package attest

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"runtime/debug"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	spdxjson "github.com/spdx/tools-golang/json"
	"github.com/spdx/tools-golang/spdx/v2/common"
	spdx "github.com/spdx/tools-golang/spdx/v2/v2_3"
)

// MediaTypeSPDX is the media type of an SPDX JSON document, and the
// artifactType of the SBOM artifact.
const MediaTypeSPDX = "application/spdx+json"

const noAssertion = "NOASSERTION"

// SBOM returns an SPDX 2.3 JSON document describing the image subject
// names (its manifest descriptor): the image as the described package,
// the base image it descends from, each input it contains (with its
// sha256 and, for downloads and git, where it came from), and each Go
// executable with its main module, the Go standard library at its
// version, and every module it depends on, with the module's go.sum
// hash as a SHA256 checksum. Package URLs (pkg:oci, pkg:golang) let
// scanners match them.
func SBOM(subject v1.Descriptor, facts Facts) ([]byte, error) {
	subject, f, err := prepare(subject, facts)
	if err != nil {
		return nil, err
	}
	b := &sbomBuilder{seen: map[common.ElementID]bool{}}
	img := b.add(&spdx.Package{
		PackageName:               f.name(),
		PackageSPDXIdentifier:     "Image",
		PackageVersion:            subject.Digest.String(),
		PackageDownloadLocation:   noAssertion,
		PackageChecksums:          sha256Sum(subject.Digest),
		PackageExternalReferences: purl(ociPURL(f.name(), subject.Digest)),
		PrimaryPackagePurpose:     "CONTAINER",
	})
	b.relate("DOCUMENT", img, common.TypeRelationshipDescribe)
	if f.Base != nil {
		base := b.add(&spdx.Package{
			PackageName:               f.Base.Ref,
			PackageSPDXIdentifier:     "Base",
			PackageVersion:            f.Base.Digest.String(),
			PackageDownloadLocation:   noAssertion,
			PackageChecksums:          sha256Sum(f.Base.Digest),
			PackageExternalReferences: purl(ociPURL(repository(f.Base.Ref), f.Base.Digest)),
			PrimaryPackagePurpose:     "CONTAINER",
		})
		b.relate(img, base, "DESCENDANT_OF")
	}
	for _, in := range f.Inputs {
		b.relate(img, b.add(inputPackage(in)), common.TypeRelationshipContains)
	}
	for _, bin := range f.Binaries {
		b.binary(img, bin)
	}
	doc := &spdx.Document{
		SPDXVersion:    spdx.Version,
		DataLicense:    spdx.DataLicense,
		SPDXIdentifier: "DOCUMENT",
		DocumentName:   f.name() + "@" + subject.Digest.String(),
		CreationInfo: &spdx.CreationInfo{
			Creators: []common.Creator{{CreatorType: "Tool", Creator: "stevedore"}},
			Created:  f.Created.Format("2006-01-02T15:04:05Z"),
		},
		Packages:      b.packages,
		Relationships: b.rels,
	}
	// The namespace must be unique to the document: derive it from the
	// document's own content rather than from a random UUID.
	body, err := encodeSPDX(doc)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(body)
	doc.DocumentNamespace = "https://spdx.org/spdxdocs/stevedore/" + hex.EncodeToString(sum[:])
	return encodeSPDX(doc)
}

func encodeSPDX(doc *spdx.Document) ([]byte, error) {
	var buf bytes.Buffer
	if err := spdxjson.Write(doc, &buf, spdxjson.EscapeHTML(false)); err != nil {
		return nil, fmt.Errorf("attest: encoding SPDX: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

type sbomBuilder struct {
	packages []*spdx.Package
	rels     []*spdx.Relationship
	seen     map[common.ElementID]bool
}

// add adds p unless a package with its id is there, and returns its id.
func (b *sbomBuilder) add(p *spdx.Package) common.ElementID {
	if !b.seen[p.PackageSPDXIdentifier] {
		b.seen[p.PackageSPDXIdentifier] = true
		if p.PackageLicenseConcluded == "" {
			p.PackageLicenseConcluded, p.PackageLicenseDeclared, p.PackageCopyrightText = noAssertion, noAssertion, noAssertion
		}
		b.packages = append(b.packages, p)
	}
	return p.PackageSPDXIdentifier
}

func (b *sbomBuilder) relate(a, c common.ElementID, typ string) {
	b.rels = append(b.rels, &spdx.Relationship{
		RefA:         common.MakeDocElementID("", string(a)),
		RefB:         common.MakeDocElementID("", string(c)),
		Relationship: typ,
	})
}

// binary adds a Go executable, the standard library it was built with and
// the modules it depends on.
func (b *sbomBuilder) binary(img common.ElementID, bin Binary) {
	bi := bin.Info
	main := bi.Main.Path
	if main == "" {
		main = bi.Path
	}
	p := &spdx.Package{
		PackageName:               main,
		PackageSPDXIdentifier:     id("Go-Binary", bin.Path),
		PackageVersion:            bi.Main.Version,
		PackageFileName:           bin.Path,
		PackageDownloadLocation:   noAssertion,
		PackageExternalReferences: purl(golangPURL(main, bi.Main.Version)),
		PackageComment:            "Go executable " + bin.Path + " built with " + bi.GoVersion,
		PrimaryPackagePurpose:     "APPLICATION",
	}
	if bin.Digest != (v1.Hash{}) {
		p.PackageChecksums = sha256Sum(bin.Digest)
	}
	exe := b.add(p)
	b.relate(img, exe, common.TypeRelationshipContains)
	if bi.GoVersion != "" {
		std := b.add(&spdx.Package{
			PackageName:               "stdlib",
			PackageSPDXIdentifier:     id("Go-Module", "stdlib@"+bi.GoVersion),
			PackageVersion:            bi.GoVersion,
			PackageDownloadLocation:   noAssertion,
			PackageExternalReferences: purl(golangPURL("stdlib", bi.GoVersion)),
			PrimaryPackagePurpose:     "LIBRARY",
		})
		b.relate(exe, std, common.TypeRelationshipDependsOn)
	}
	for _, dep := range bi.Deps {
		m := dep
		if dep.Replace != nil {
			m = dep.Replace
		}
		p := &spdx.Package{
			PackageName:               m.Path,
			PackageSPDXIdentifier:     id("Go-Module", m.Path+"@"+m.Version+" "+m.Sum),
			PackageVersion:            m.Version,
			PackageDownloadLocation:   noAssertion,
			PackageExternalReferences: purl(golangPURL(m.Path, m.Version)),
			PrimaryPackagePurpose:     "LIBRARY",
		}
		if sum := h1SHA256(m); sum != "" {
			p.PackageChecksums = []common.Checksum{{Algorithm: common.SHA256, Value: sum}}
		}
		if dep.Replace != nil {
			p.PackageComment = "replaces " + dep.Path + " " + dep.Version
		}
		b.relate(exe, b.add(p), common.TypeRelationshipDependsOn)
	}
}

func inputPackage(in Input) *spdx.Package {
	p := &spdx.Package{
		PackageName:             in.URI,
		PackageSPDXIdentifier:   id("Input", string(in.Kind)+" "+in.URI+" "+in.Destination+" "+in.Digest.String()+" "+in.Commit),
		PackageDownloadLocation: noAssertion,
		PrimaryPackagePurpose:   "SOURCE",
	}
	if p.PackageName == "" {
		p.PackageName = string(in.Kind)
	}
	if in.Digest != (v1.Hash{}) {
		p.PackageChecksums = sha256Sum(in.Digest)
	}
	switch in.Kind {
	case KindURL:
		p.PackageDownloadLocation = in.URI
		p.PrimaryPackagePurpose = "ARCHIVE"
	case KindTarball:
		p.PrimaryPackagePurpose = "ARCHIVE"
	case KindGit:
		p.PackageDownloadLocation = "git+" + in.URI + "@" + in.Commit
		p.PackageVersion = in.Commit
	}
	var c []string
	c = append(c, string(in.Kind)+" input")
	if in.Ref != "" {
		c = append(c, "ref "+in.Ref)
	}
	if in.Destination != "" {
		c = append(c, "placed at "+in.Destination)
	}
	p.PackageComment = strings.Join(c, ", ")
	return p
}

// id makes a valid, stable SPDX id from a kind and a key.
func id(kind, key string) common.ElementID {
	sum := sha256.Sum256([]byte(key))
	return common.ElementID("Package-" + kind + "-" + hex.EncodeToString(sum[:8]))
}

func sha256Sum(h v1.Hash) []common.Checksum {
	return []common.Checksum{{Algorithm: common.SHA256, Value: h.Hex}}
}

// h1SHA256 turns a go.sum "h1:" hash (base64 SHA-256) into hex, as ko does.
func h1SHA256(m *debug.Module) string {
	b64, ok := strings.CutPrefix(m.Sum, "h1:")
	if !ok {
		return ""
	}
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(raw) != sha256.Size {
		return ""
	}
	return hex.EncodeToString(raw)
}

func purl(locator string) []*spdx.PackageExternalReference {
	return []*spdx.PackageExternalReference{{Category: "PACKAGE-MANAGER", RefType: "purl", Locator: locator}}
}

// golangPURL is pkg:golang/PATH@VERSION, with the path's segments kept.
func golangPURL(path, version string) string {
	s := "pkg:golang/" + escapePURL(path, "/")
	if version != "" && version != "(devel)" {
		s += "@" + escapePURL(version, "")
	}
	return s
}

// ociPURL is pkg:oci/NAME@sha256:...?repository_url=REPO, as the purl
// specification defines for OCI artifacts.
func ociPURL(repo string, h v1.Hash) string {
	name := repo[strings.LastIndex(repo, "/")+1:]
	s := "pkg:oci/" + escapePURL(strings.ToLower(name), "") + "@" + escapePURL(h.String(), "")
	if strings.Contains(repo, "/") {
		s += "?repository_url=" + escapePURL(repo, "/")
	}
	return s
}

// repository strips a reference's tag or digest.
func repository(ref string) string {
	if i := strings.Index(ref, "@"); i >= 0 {
		ref = ref[:i]
	}
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		ref = ref[:i]
	}
	return ref
}

// escapePURL percent-encodes what a purl component may not hold; keep
// lists separators left as they are.
func escapePURL(s, keep string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
			c == '.', c == '-', c == '_', c == '~', strings.IndexByte(keep, c) >= 0:
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}
