"""Validates JSON records against a JSON Schema (draft 2020-12) with the
`jsonschema` package: one record per line of RECORDS.jsonl, one verdict per
line on stdout, `ok` or `invalid`. Used by tests/it/schema.rs.

Usage: validate.py SCHEMA.json RECORDS.jsonl
"""

import json
import sys

import jsonschema


def main():
    schema = json.load(open(sys.argv[1]))
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    for line in open(sys.argv[2]):
        print("ok" if validator.is_valid(json.loads(line)) else "invalid")


if __name__ == "__main__":
    main()
