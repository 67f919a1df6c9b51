# Production only receives what is in staging right now (attach to alias pattern "production").
package registry.promote

import rego.v1

default allow := false

allow if input.aliases.staging == input.version.version

deny contains sprintf("%s is not in staging (staging is %v)", [input.version.version, object.get(input.aliases, "staging", "unset")]) if {
	input.aliases.staging != input.version.version
}

deny contains sprintf("%s is not in staging (staging is unset)", [input.version.version]) if {
	not input.aliases.staging
}
