"""The ground every room stands on: configuration, errors, the typed messages and the wire protocol, crash-safe
files, message logs and the process environment. It imports no other room of the project."""

from ground.runtime import PROCESS_ENV, apply_env

apply_env(PROCESS_ENV)  # before any room loads a model: every import of the project passes through here
