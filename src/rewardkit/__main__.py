from rewardkit.cli.main import entrypoint

entrypoint()
