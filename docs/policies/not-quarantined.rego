# Never promote a quarantined version (a poisoned dataset, a compromised key, a corrupted blob).
package registry.promote

import rego.v1

default allow := false

allow if not input.quarantined

deny contains "the version is quarantined" if input.quarantined
