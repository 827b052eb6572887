export { startDashboard, type Dashboard, type DashboardOptions } from './server.js';
export { dashboardState, type DashboardState, type DashboardRun } from './snapshot.js';
export { DEFAULT_LIMITS as DASHBOARD_LIMITS, type ConnectionLimits } from './guard.js';
