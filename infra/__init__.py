"""Infrastructure definitions: the catalog, stage configuration, CDK constructs and stacks."""
