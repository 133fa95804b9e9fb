"""The bootstrap Pulumi program (its own project, bootstrap/Pulumi.yaml): the clouds' side of the CI trust."""
