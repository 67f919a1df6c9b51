# Only models that measured well: auc >= 0.9 (the metric must be recorded and numeric).
package registry.promote

import rego.v1

default allow := false

min_auc := 0.9

auc := input.version.lineage.metrics.auc

allow if {
	is_number(auc)
	auc >= min_auc
}

deny contains "metric auc is not recorded" if not input.version.lineage.metrics.auc

deny contains sprintf("auc %v is below %v", [auc, min_auc]) if {
	is_number(auc)
	auc < min_auc
}
