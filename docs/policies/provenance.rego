# Require SLSA provenance that the registry verified: signed by a key trusted for this namespace
# (and, if the key is limited to predicate types, for SLSA provenance), bound to this version's
# manifest. Optionally pin the training keys by id.
package registry.promote

import rego.v1

default allow := false

# Leave empty to accept any key the registry trusts for the namespace.
training_keys := set()

provenance contains a if {
	some a in input.attestations
	a.predicate_type == "https://slsa.dev/provenance/v1"
	a.verified
	a.binding == "manifest"
	pinned(a.signer_key_id)
}

pinned(_) if count(training_keys) == 0

pinned(k) if k in training_keys

allow if count(provenance) > 0

deny contains "no verified SLSA provenance signed by a trusted training key" if count(provenance) == 0
