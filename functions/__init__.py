"""One folder per Lambda, one concern each; entry point handler.lambda_handler."""
