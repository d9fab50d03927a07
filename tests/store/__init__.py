"""Tests of the InfluxDB store: line protocol, InfluxQL, client."""
