"""A wire-level fake of Cloud Monitoring's gRPC MetricService on 127.0.0.1."""

from __future__ import annotations

from concurrent import futures
from typing import Any

import grpc
from google.api import metric_pb2
from google.cloud import monitoring_v3
from google.protobuf import empty_pb2

MAX_SERIES = 200


class FakeMetricService:
    """Records CreateMetricDescriptor and CreateTimeSeries; `fail` scripts status codes per call."""

    def __init__(self) -> None:
        self.descriptors: dict[str, metric_pb2.MetricDescriptor] = {}
        self.descriptor_calls = 0
        self.series_calls: list[monitoring_v3.CreateTimeSeriesRequest] = []
        self.attempts = 0  # CreateTimeSeries calls including failed ones
        self.fail: list[grpc.StatusCode] = []  # popped first-in first-out by CreateTimeSeries
        self.down = False
        self._latest: dict[tuple[Any, ...], Any] = {}
        handler = grpc.method_handlers_generic_handler("google.monitoring.v3.MetricService", {
            "CreateMetricDescriptor": grpc.unary_unary_rpc_method_handler(
                self._create_descriptor,
                request_deserializer=monitoring_v3.CreateMetricDescriptorRequest.deserialize,
                response_serializer=metric_pb2.MetricDescriptor.SerializeToString,
            ),
            "CreateTimeSeries": grpc.unary_unary_rpc_method_handler(
                self._create_series,
                request_deserializer=monitoring_v3.CreateTimeSeriesRequest.deserialize,
                response_serializer=empty_pb2.Empty.SerializeToString,
            ),
        })
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        self._server.add_generic_rpc_handlers((handler,))
        self.port = self._server.add_insecure_port("127.0.0.1:0")
        self.endpoint = f"127.0.0.1:{self.port}"
        self._server.start()

    def _create_descriptor(self, request: Any, ctx: grpc.ServicerContext) -> metric_pb2.MetricDescriptor:
        self.descriptor_calls += 1
        d = monitoring_v3.CreateMetricDescriptorRequest.pb(request).metric_descriptor
        if not d.type.startswith("custom.googleapis.com/"):
            ctx.abort(grpc.StatusCode.INVALID_ARGUMENT, f"metric type {d.type} is not custom")
        self.descriptors[d.type] = d
        return d

    def _create_series(self, request: Any, ctx: grpc.ServicerContext) -> empty_pb2.Empty:
        self.attempts += 1
        if self.down:
            ctx.abort(grpc.StatusCode.UNAVAILABLE, "The service is currently unavailable.")
        if self.fail:
            code = self.fail.pop(0)
            ctx.abort(code, {grpc.StatusCode.UNAVAILABLE: "The service is currently unavailable.",
                             grpc.StatusCode.INVALID_ARGUMENT: "One or more TimeSeries could not be written: "
                             "Field timeSeries[0].points[0].value had an invalid value."}.get(code, code.name))
        if len(request.time_series) > MAX_SERIES:
            ctx.abort(grpc.StatusCode.INVALID_ARGUMENT, f"at most {MAX_SERIES} TimeSeries per request")
        seen = set()
        for ts in request.time_series:
            if ts.metric.type not in self.descriptors:
                ctx.abort(grpc.StatusCode.NOT_FOUND, f"no descriptor for {ts.metric.type}")
            key = (ts.metric.type, tuple(sorted(ts.metric.labels.items())))
            if key in seen:
                ctx.abort(grpc.StatusCode.INVALID_ARGUMENT, "a TimeSeries appears twice in one request")
            seen.add(key)
            end = ts.points[0].interval.end_time
            if key in self._latest and end <= self._latest[key]:
                ctx.abort(grpc.StatusCode.INVALID_ARGUMENT, "Points must be written in order.")
        for ts in request.time_series:
            key = (ts.metric.type, tuple(sorted(ts.metric.labels.items())))
            self._latest[key] = ts.points[0].interval.end_time
        self.series_calls.append(request)
        return empty_pb2.Empty()

    def series(self) -> list[Any]:
        """Every TimeSeries written, in order."""
        return [ts for req in self.series_calls for ts in req.time_series]

    def close(self) -> None:
        self._server.stop(grace=None)
