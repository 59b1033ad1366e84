"""docs/openapi.yaml against the code and against loamd.

routes_in_source() reads every route loamd serves from src/api: the API's
route table ({"GET", {"vms", "*"}, fn}), the console's ({"GET", "/vms/*",
SESSION, fn}) and the paths http.c serves itself, marked with a
"route: METHOD PATH" comment. A route added to any of these is found
with no change here. Contract checks the document's own shape and each
real response (status, content type, JSON body) against its schemas with
python3-jsonschema (Draft 2020-12, OpenAPI 3.1's dialect); unknown keys
fail, so a field added to a view must be documented in the same change.
"""
import json
import os
import re

import jsonschema
import yaml

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
API_ROUTE = re.compile(r'\{\s*"(%s)",\s*\{([^}]*)\},\s*\w+\s*(?:,[^{}]*)?\}' % "|".join(METHODS))
CONSOLE_ROUTE = re.compile(r'\{\s*"(%s)",\s*"(/[^"]*)",\s*(?:PUBLIC|SESSION)' % "|".join(METHODS))
MARKED_ROUTE = re.compile(r"route: (%s) (/\S*)" % "|".join(METHODS))


def normalize(path):
    """/v1/vms/{name} and /v1/vms/* both become /v1/vms/{}."""
    return re.sub(r"\{[^}/]*\}|\*", "{}", path)


def routes_in_source(src_dir):
    """{(METHOD, normalized path): "file"} for every route under src/api."""
    found = {}
    api_dir = os.path.join(src_dir, "src", "api")
    for name in sorted(os.listdir(api_dir)):
        if not name.endswith(".c"):
            continue
        text = open(os.path.join(api_dir, name), encoding="utf-8").read()
        for method, segs in API_ROUTE.findall(text):
            parts = re.findall(r'"([^"]*)"', segs)
            found[(method, normalize("/v1/" + "/".join(parts)))] = "src/api/" + name
        for method, path in CONSOLE_ROUTE.findall(text):
            found[(method, normalize(path))] = "src/api/" + name
        for method, path in MARKED_ROUTE.findall(text):
            found[(method, normalize(path))] = "src/api/" + name
    return found


class Contract:
    def __init__(self, path):
        with open(path, encoding="utf-8") as f:
            self.doc = yaml.safe_load(f)
        self.resolver = jsonschema.RefResolver(base_uri="", referrer=self.doc)
        self.ops = []  # (method, template, regex, operation)
        for template, item in self.doc.get("paths", {}).items():
            for method, op in item.items():
                if method.upper() not in METHODS:
                    continue
                rx = "^" + re.sub(r"\\\{[^}]*\\\}", "[^/]+", re.escape(template)) + "$"
                self.ops.append((method.upper(), template, re.compile(rx), op))
        # literal segments win over parameters (/v1/artifacts/gc before a name)
        self.ops.sort(key=lambda o: -len(re.sub(r"\{[^}]*\}", "", o[1])))

    def documented(self):
        return {(m, normalize(t)) for m, t, _, _ in self.ops}

    def self_check(self):
        """Problems in the document itself: schemas that are not valid
        JSON Schema, $refs that do not resolve, operations without
        responses, repeated operationIds."""
        problems, seen = [], set()
        for name, schema in self.doc.get("components", {}).get("schemas", {}).items():
            try:
                jsonschema.Draft202012Validator.check_schema(schema)
            except jsonschema.SchemaError as e:
                problems.append("schema %s: %s" % (name, e.message))
        for ref in set(re.findall(r"'\$ref': '([^']*)'", repr(self.doc))):
            try:
                self.resolver.resolve(ref)
            except jsonschema.RefResolutionError:
                problems.append("unresolved $ref %s" % ref)
        for method, template, _, op in self.ops:
            if not op.get("responses"):
                problems.append("%s %s has no responses" % (method, template))
            oid = op.get("operationId")
            if oid and oid in seen:
                problems.append("operationId %s is used twice" % oid)
            seen.add(oid)
        return problems

    def operation(self, method, path):
        path = path.split("?", 1)[0]
        for m, template, rx, op in self.ops:
            if m == method and rx.match(path):
                return template, op
        return None, None

    def _deref(self, obj):
        while isinstance(obj, dict) and "$ref" in obj:
            _, obj = self.resolver.resolve(obj["$ref"])
        return obj

    def check(self, method, path, status, content_type, body):
        """Problems with one real response; [] when it matches."""
        template, op = self.operation(method, path)
        where = "%s %s -> %s" % (method, path, status)
        if not op:
            return ["%s: no such operation in docs/openapi.yaml" % where]
        resp = self._deref(op.get("responses", {}).get(str(status)))
        if resp is None:
            return ["%s: status %s is not documented for %s %s" % (where, status, method,
                                                                   template)]
        content = resp.get("content")
        if not content:
            return []
        media = (content_type or "").split(";")[0].strip()
        if media not in content:
            return ["%s: content type %r, documented %s" % (where, media, sorted(content))]
        if media != "application/json":
            return []
        try:
            doc = json.loads(body)
        except ValueError as e:
            return ["%s: not JSON: %s" % (where, e)]
        validator = jsonschema.Draft202012Validator(content[media].get("schema", {}),
                                                    resolver=self.resolver)
        return ["%s: %s at %s" % (where, e.message, "/".join(str(p) for p in e.absolute_path))
                for e in validator.iter_errors(doc)]
