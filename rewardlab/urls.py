from django.urls import path

from rewardlab import views

urlpatterns = [
    path("campaigns/<int:campaign_id>/learning_curve.png", views.learning_curve, name="rewardlab-learning-curve"),
    path("versions/<int:version_id>/metrics.png", views.version_metrics, name="rewardlab-version-metrics"),
    path("versions/<int:version_id>/weights.png", views.version_weights, name="rewardlab-version-weights"),
]
