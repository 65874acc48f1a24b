# The manual's "監視スタックアップデート": image update, configuration update
# (with validation and reload, no restart), Grafana dashboards, and their
# rollbacks. Every procedure runs inside a maintenance silence that is always
# expired at the end. Images, config folders and dashboards come from the plan.
@component:monitoring
Feature: Monitoring stack update
  Prometheus, Alertmanager and Grafana are updated under podman-compose.
  If any step fails, the linked rollback runs at once.

  @id:monitoring-images-update @rollback:monitoring-images-rollback
  Scenario: Update the monitoring images
    Given a maintenance silence covers the affected components
    And every monitoring endpoint is ready
    And the compose file and the configuration are backed up with the running images
    When the compose file names the new image tags
    And the new images are pulled
    And the stack is restarted
    Then the stack runs the new images
    And the maintenance silence is expired

  @id:monitoring-config-update @rollback:monitoring-config-rollback
  Scenario: Update the monitoring configuration
    Given a maintenance silence covers the affected components
    And every monitoring endpoint is ready
    And the compose file and the configuration are backed up with the running images
    When the new configuration is copied into place
    And the configuration passes promtool and amtool inside the containers
    And Prometheus and Alertmanager reload it
    Then Prometheus serves the new configuration
    And the maintenance silence is expired

  @id:grafana-dashboards-update @rollback:grafana-dashboards-rollback
  Scenario: Update the Grafana dashboards
    Given a maintenance silence covers the affected components
    And every monitoring endpoint is ready
    And every Grafana dashboard is exported with a manifest
    When the new dashboards are imported
    Then Grafana serves the new dashboard versions
    And the maintenance silence is expired

  @rollback-procedure @id:monitoring-images-rollback
  Scenario: Roll back the monitoring images
    When the backed-up compose file and configuration are restored
    And the stack runs the previous images again
    Then the stack is exactly as before the update
    And the maintenance silence is expired

  @rollback-procedure @id:monitoring-config-rollback
  Scenario: Roll back the monitoring configuration
    When the backed-up compose file and configuration are restored
    And the restored configuration is validated and reloaded
    Then the stack is exactly as before the update
    And the maintenance silence is expired

  @rollback-procedure @id:grafana-dashboards-rollback
  Scenario: Roll back the Grafana dashboards
    When the exported dashboards are imported again
    Then Grafana serves the exported dashboards
    And the maintenance silence is expired
