"""collector-eval's gRPC control API (`collector_eval.v1.Control`): its server, a client, and the
`sessions` command line built on the client. The messages are generated: collector_eval/v1/."""
