#!/bin/sh
# Creates the platform's provider key in LocalStack with the fixed id cmekd is configured with
# (LocalStack honours the _custom_id_ tag).
awslocal kms create-key --region us-west-2 --description "cmekd provider key" \
  --tags TagKey=_custom_id_,TagValue=00000000-0000-4000-8000-000000000001
