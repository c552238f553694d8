from django.urls import path

from rewardlab.api import ScoreApi

urlpatterns = [
    path("score", ScoreApi.as_view(), name="api-score"),
]
