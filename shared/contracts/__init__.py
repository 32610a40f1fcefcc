"""The contracts between services: wire schemas, errors, prompts, data formats, names.

Pure Python over pydantic: nothing here opens a file handle on its own account, talks to Redis
or loads a model, so a client of any service can depend on it cheaply.
"""
