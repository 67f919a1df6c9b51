# Four eyes: whoever pushed a version may not promote it.
package registry.promote

import rego.v1

default allow := false

allow if input.actor.id != input.version.created_by

deny contains sprintf("%s pushed this version and may not also promote it", [input.actor.id]) if {
	input.actor.id == input.version.created_by
}
