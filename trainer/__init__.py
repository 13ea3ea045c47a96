"""The training job: data loading, backpropagation, losses, optimisers and the export of bundles."""
