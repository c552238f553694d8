from django.apps import AppConfig


class RewardlabConfig(AppConfig):
    name = "rewardlab"
    verbose_name = "Reward models"
