# Every training dataset must be named by digest in the *signed* provenance (the lineage alone is
# self-reported), and none may be on the deny list (poisoned or withdrawn data).
package registry.promote

import rego.v1

default allow := false

denied_datasets := {"sha256:0000000000000000000000000000000000000000000000000000000000000000"}

signed_digests contains concat(":", ["sha256", d.digest.sha256]) if {
	some a in input.attestations
	a.predicate_type == "https://slsa.dev/provenance/v1"
	a.verified
	some d in a.predicate.buildDefinition.resolvedDependencies
	startswith(d.name, "dataset:")
}

deny contains "the version records no datasets" if count(input.version.lineage.datasets) == 0

deny contains sprintf("dataset %s (%s) is not in signed provenance", [d.uri, d.digest]) if {
	some d in input.version.lineage.datasets
	not d.digest in signed_digests
}

deny contains sprintf("dataset %s (%s) is on the deny list", [d.uri, d.digest]) if {
	some d in input.version.lineage.datasets
	d.digest in denied_datasets
}

allow if count(deny) == 0
