"""collector-eval's control API (`collector_eval.v1`): code generated from proto/collector_eval/v1/ by
`make proto`. Do not edit the *_pb2 files; edit the .proto and regenerate."""
