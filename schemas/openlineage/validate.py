"""Checks OpenLineage events against the schemas in this folder, offline; optionally rebuilds them with
the OpenLineage Python client.

    python3 -m venv /tmp/ol
    /tmp/ol/bin/pip install 'jsonschema[format-nongpl]' openlineage-python==1.54.0
    cargo test -p registry-core openlineage::tests::the_full_event_is_pinned -- --nocapture  # prints one
    /tmp/ol/bin/python schemas/openlineage/validate.py EVENT.json [...]

For each event: the whole event against OpenLineage.json (the root, then the definition its
schemaURL names), every facets object against the root of every facet schema here (each root checks
the facet under its own key), every facet's _schemaURL resolves to a definition committed here, with
the `uri`, `date-time` and `uuid` formats checked. Then, when `openlineage.client` imports, the event
is rebuilt from the client's own classes (their validators run) and must serialize back to the same
JSON (less the empty inputFacets/outputFacets the client adds). Exit status 1 on any error.
"""

from __future__ import annotations

import json
import pathlib
import sys

from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource

HERE = pathlib.Path(__file__).parent
DOCS = {d["$id"]: d for d in (json.loads(p.read_text()) for p in sorted(HERE.glob("*.json")))}
REGISTRY = Registry().with_resources((i, Resource.from_contents(d)) for i, d in DOCS.items())
FORMATS = FormatChecker(["uri", "date-time", "uuid"])


def errors(schema_url: str, instance: object) -> list[str]:
    v = Draft202012Validator({"$ref": schema_url}, registry=REGISTRY, format_checker=FORMATS)
    return [f"{schema_url} at /{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in v.iter_errors(instance)]


def facet_objects(event: dict) -> list[dict]:
    datasets = event.get("inputs", []) + event.get("outputs", [])
    return [event["run"].get("facets", {}), event["job"].get("facets", {})] + [d.get("facets", {}) for d in datasets]


def schema_errors(event: dict) -> list[str]:
    core = "https://openlineage.io/spec/2-0-2/OpenLineage.json"
    errs = errors(core, event) + errors(event["schemaURL"], event)
    for facets in facet_objects(event):
        for schema_id in DOCS:
            if schema_id != core:
                errs += errors(schema_id, facets)
        for key, facet in facets.items():
            try:
                REGISTRY.resolver().lookup(facet["_schemaURL"])
            except Exception:  # referencing's Unresolvable, or a facet without _schemaURL
                errs.append(f"facet {key}: its _schemaURL is not a definition committed here")
    return errs


def client_errors(event: dict) -> list[str]:
    try:
        from openlineage.client import event_v2 as ev
        from openlineage.client.facet_v2 import (
            dataset_type_dataset,
            dataset_version_dataset,
            execution_parameters_run,
            source_code_location_job,
        )
        from openlineage.client.serde import Serde
    except ImportError:
        return []
    standard = {
        "sourceCodeLocation": source_code_location_job.SourceCodeLocationJobFacet,
        "executionParameters": execution_parameters_run.ExecutionParametersRunFacet,
        "version": dataset_version_dataset.DatasetVersionDatasetFacet,
        "datasetType": dataset_type_dataset.DatasetTypeDatasetFacet,
    }

    def facets(raw: dict, base: type) -> dict:
        out = {}
        for key, f in raw.items():
            fields = {k: v for k, v in f.items() if not k.startswith("_")}
            if key == "executionParameters":
                params = [execution_parameters_run.ExecutionParameter(**p) for p in fields["parameters"]]
                fields["parameters"] = params
            if key in standard:
                obj = standard[key](**fields, producer=f["_producer"])
            else:  # a custom facet: the client's base class, our schema URL, the fields as extra properties
                url = f["_schemaURL"]
                cls = type(key, (base,), {"_get_schema": staticmethod(lambda url=url: url)})
                obj = cls(producer=f["_producer"]).with_additional_properties(**fields)
            out[key] = obj
        return out

    try:
        again = Serde.to_dict(rebuild(event, ev, facets))
    except Exception as e:  # the client's validators raise ValueError and friends
        return [f"openlineage.client refuses the event: {e!r}"]
    for d in again.get("inputs", []) + again.get("outputs", []):  # the client adds these, empty
        for key in ("inputFacets", "outputFacets"):
            if d.get(key) == {}:
                del d[key]
    if again != event:
        return [f"openlineage.client rebuilds a different event: {json.dumps(again, sort_keys=True)}"]
    return []


def rebuild(event: dict, ev: object, facets: object) -> object:
    from openlineage.client.generated.base import DatasetFacet, JobFacet, RunFacet

    def dataset(cls: type, d: dict) -> object:
        return cls(namespace=d["namespace"], name=d["name"], facets=facets(d.get("facets", {}), DatasetFacet))

    return ev.RunEvent(
        eventType=ev.RunState(event["eventType"]),
        eventTime=event["eventTime"],
        producer=event["producer"],
        run=ev.Run(runId=event["run"]["runId"], facets=facets(event["run"]["facets"], RunFacet)),
        job=ev.Job(
            namespace=event["job"]["namespace"],
            name=event["job"]["name"],
            facets=facets(event["job"]["facets"], JobFacet),
        ),
        inputs=[dataset(ev.InputDataset, d) for d in event["inputs"]],
        outputs=[dataset(ev.OutputDataset, d) for d in event["outputs"]],
    )


def main(paths: list[str]) -> int:
    failed = False
    for path in paths:
        event = json.loads(pathlib.Path(path).read_text())
        errs = schema_errors(event) + client_errors(event)
        for e in errs:
            print(f"{path}: {e}")
        failed |= bool(errs)
        print(f"{path}: {'FAILED' if errs else 'ok'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
