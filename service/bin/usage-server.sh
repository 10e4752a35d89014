#!/bin/sh
# usage-server command: runs the reference server with the Node runtime installed beside it.
exec @NODE@ @SERVER_JS@ "$@"
